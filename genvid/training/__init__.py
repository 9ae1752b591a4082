"""The one Accelerate training loop and the task objects the models give it."""
