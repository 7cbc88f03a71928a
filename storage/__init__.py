"""Database access for Firewatch (SQLAlchemy 2 async)."""
