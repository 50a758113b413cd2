"""The notifier function: a `Job Ended` subscriber that mails procedures' outcomes."""
