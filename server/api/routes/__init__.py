"""One router per resource; app.py assembles them."""
