"""Data model: decoded DRA objects, quantities and versions."""
