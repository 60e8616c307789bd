"""Pure ML code: paths and parameters in, files and metrics out. No ORM; torch is imported lazily."""
