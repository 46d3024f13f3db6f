"""Pure functions from the model to text or plain data; nothing here prints."""
