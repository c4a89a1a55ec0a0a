package cluster

import (
	"context"
	"slices"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
)

// ShareIngressCerts gives the certificates of the node's config to the
// cluster (call before Run): a server keeps them in the cluster state,
// where every node's work carries them to its ingress; a server that
// shares none removes the ones it shared before. An agent's stay its own
// (its ingress serves them over the cluster's).
func (rt *Runtime) ShareIngressCerts(certs []ingress.CertPEM) {
	out := make([]apitypes.IngressCert, 0, len(certs))
	for _, c := range certs {
		out = append(out, apitypes.IngressCert{Hosts: c.Hosts, Cert: string(c.Cert), Key: string(c.Key)})
	}
	rt.mu.Lock()
	rt.ownCerts = out
	rt.mu.Unlock()
}

// shareCerts writes the node config's certificates into the cluster state
// once (servers only), retrying until it can.
func (rt *Runtime) shareCerts(ctx context.Context) error {
	rt.mu.Lock()
	certs := rt.ownCerts
	rt.mu.Unlock()
	var d time.Duration
	for {
		err := rt.state.PutCerts(ctx, rt.name, certs)
		if err == nil {
			if len(certs) > 0 {
				rt.log.Info("ingress certificates shared with the cluster", "count", len(certs))
			}
			return nil
		}
		// The error names the key, never the certificates' contents.
		rt.log.Warn("sharing the ingress certificates with the cluster", "err", err)
		if !backoff(ctx, &d) {
			return nil
		}
	}
}

// noteCerts takes the cluster's certificates of a work into ClusterCerts,
// moving replicaFeed on when they changed.
func (rt *Runtime) noteCerts(certs []apitypes.IngressCert) {
	out := make([]ingress.CertPEM, 0, len(certs))
	for _, c := range certs {
		out = append(out, ingress.CertPEM{Hosts: c.Hosts, Cert: []byte(c.Cert), Key: []byte(c.Key)})
	}
	note(rt, &rt.clusterCerts, &rt.certsKnown, out, ingress.SameCerts, &rt.replicaFeed)
}

// ClusterCerts are the ingress certificates the cluster shares, as last
// read; known is false until the node has read its work once (its ingress
// keeps what it serves until then).
func (rt *Runtime) ClusterCerts() (certs []ingress.CertPEM, known bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.clusterCerts), rt.certsKnown
}
