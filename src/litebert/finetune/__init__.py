"""Fine-tuning: task tables and readers (glue), official metrics (metrics)."""
