"""The hall's domain: tickets, themes, windows, the next-ticket policy. Pure, no I/O, no clock."""
