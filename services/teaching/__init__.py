"""Teaching service (教学管理): courses, faculty, sites, sessions, attendance, leave, hours."""
