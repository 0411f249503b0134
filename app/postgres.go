package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/postgres"
)

func openPostgres(ctx context.Context, dsn string, reg prometheus.Registerer) (publicmask.Store, error) {
	return postgres.Open(ctx, dsn, postgres.Options{Logger: slog.Default()})
}
