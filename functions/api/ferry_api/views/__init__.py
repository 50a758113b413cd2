"""How a job looks in each dialect: a mapper per dialect, all reading the same canonical job."""
