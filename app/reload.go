package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/publicmask/publicmask/policy"
)

// ReloadOnHUP reloads the policy on SIGHUP until ctx ends. A file policy is
// read again; a bad file is logged and the rules in force stay.
func (n *Node) ReloadOnHUP(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			if err := n.ReloadPolicy(); err != nil {
				n.cfg.Logger.Error("policy reload failed; the rules in force stay", "policy", n.cfg.Policy, "err", err)
			}
		}
	}
}

// ReloadPolicy loads the configured policy again and swaps it in atomically.
func (n *Node) ReloadPolicy() error {
	p, err := policy.Load(n.cfg.Policy)
	if err != nil {
		return err
	}
	n.Policy.Store(p)
	n.cfg.Logger.Info("policy reloaded", "policy", p.Name, "periods", len(p.Periods))
	return nil
}
