package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/seed"
)

// seedDemo fills an empty store with the national demo: outlets spread over
// Korea by population and an opening delivery of about 250 masks each.
func seedDemo(ctx context.Context, n *Node, cfg Config) error {
	existing, _, err := n.Store.Outlets(ctx)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return nil
	}
	opt := seed.Options{Seed: 2020}
	if cfg.Geo != "" {
		f, err := os.Open(cfg.Geo)
		if err != nil {
			return fmt.Errorf("--geo: %w", err)
		}
		opt.Areas, err = seed.ReadGeo(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--geo %s: %w", cfg.Geo, err)
		}
	}
	start := time.Now()
	outlets := seed.Outlets(opt)
	if _, err := n.Ledger.ImportOutlets(ctx, outlets); err != nil {
		return fmt.Errorf("seed outlets: %w", err)
	}
	rng := rand.New(rand.NewPCG(2020, 311))
	const chunk = 2000
	for i := 0; i < len(outlets); i += chunk {
		var lines []ledger.DeliveryRequest
		for _, o := range outlets[i:min(i+chunk, len(outlets))] {
			// 200–300, about 250: the daily allocation per pharmacy in March 2020.
			lines = append(lines, ledger.DeliveryRequest{Outlet: o.Code, Quantity: 200 + rng.IntN(101), TxnID: "demo-opening"})
		}
		res, err := n.Ledger.DeliverMany(ctx, lines)
		if err != nil {
			return fmt.Errorf("seed deliveries: %w", err)
		}
		for _, r := range res {
			if r.Error != nil {
				return fmt.Errorf("seed delivery to %s: %w", r.Outlet, r.Error)
			}
		}
	}
	cfg.Logger.Info("seeded the national demo", "outlets", len(outlets), "took_ms", float64(time.Since(start).Microseconds())/1000)
	return nil
}
