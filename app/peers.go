package app

import (
	"context"

	"github.com/publicmask/publicmask/ops"
)

// newPeers sets up the poller of --peers (checked by Config.check); it
// polls from startPeers on.
func (n *Node) newPeers() {
	specs, _ := ops.ParsePeers(n.cfg.Peers)
	n.peers = ops.NewPeers(specs, n.Registry, n.cfg.Logger.Info)
}

// startPeers polls the peers in the background until ctx ends: never per
// request, so /status traffic does not reach the peers.
func (n *Node) startPeers(ctx context.Context) {
	go n.peers.Run(ctx)
}
