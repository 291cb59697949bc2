"""The second factors, one module per factor behind one small interface; the core judges them alike."""
