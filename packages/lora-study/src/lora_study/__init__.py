"""lora_study."""
