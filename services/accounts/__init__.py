"""The accounts service (账号管理)."""
