"""What every part of Ferry shares: errors, time, ids, settings, observability, strict JSON."""
