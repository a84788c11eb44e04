"""In-clinic sessions: IV ketamine infusions and esketamine (Spravato REMS) sessions."""
