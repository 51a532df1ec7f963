// Command ferretdb runs an embedded FerretDB 1.x (MongoDB wire protocol) for local
// development, without Docker. It exists because `go install .../cmd/ferretdb`
// panics without a generated build/version/version.txt, while the embeddable
// package github.com/FerretDB/FerretDB/ferretdb works as a plain dependency.
//
// Built and started by deploy/local/ferretdb.py; stops cleanly on SIGTERM/SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	backend := flag.String("backend", "sqlite", "storage backend: sqlite or postgresql")
	sqliteDir := flag.String("sqlite-dir", "", "data folder for the sqlite backend (created if absent)")
	postgresURL := flag.String("postgresql-url", "", "connection URL for the postgresql backend, e.g. postgres://user@127.0.0.1:5432/ferretdb")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal("无效的日志级别 (invalid log level) %q: %v", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *backend,
	}

	switch *backend {
	case "sqlite":
		if *sqliteDir == "" {
			fatal("sqlite 后端需要 -sqlite-dir (the sqlite backend needs -sqlite-dir)")
		}
		dir, err := filepath.Abs(*sqliteDir)
		if err != nil {
			fatal("无法解析数据目录 (cannot resolve data folder): %v", err)
		}
		if err = os.MkdirAll(dir, 0o755); err != nil {
			fatal("无法创建数据目录 (cannot create data folder): %v", err)
		}
		// FerretDB wants a file: URI naming an existing directory, with a trailing slash;
		// url.URL escapes any '?', '#' or '%' in the path.
		cfg.SQLiteURL = (&url.URL{Scheme: "file", Path: strings.TrimSuffix(dir, "/") + "/"}).String()
	case "postgresql":
		if *postgresURL == "" {
			fatal("postgresql 后端需要 -postgresql-url (the postgresql backend needs -postgresql-url)")
		}
		cfg.PostgreSQLURL = *postgresURL
	default:
		fatal("未知后端 (unknown backend) %q: 只支持 sqlite 或 postgresql (only sqlite or postgresql)", *backend)
	}

	f, err := ferretdb.New(cfg)
	if err != nil {
		fatal("FerretDB 初始化失败 (FerretDB failed to initialise): %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("FerretDB starting", "listen", *listen, "backend", *backend)

	if err = f.Run(ctx); err != nil {
		fatal("FerretDB 异常退出 (FerretDB exited with an error): %v", err)
	}

	logger.Info("FerretDB stopped")
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
