def main() -> None:  # replaced by the real CLI below in this change
    raise SystemExit("ganxun CLI not built yet")
