"""Notifications by mail: who gets one for an ended job, and what it says."""
