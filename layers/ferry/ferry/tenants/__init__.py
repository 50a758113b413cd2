"""What a tenant configures: its settings (who gets mails, which files to import)."""
