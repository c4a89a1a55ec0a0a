package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// Nodes lists the cluster's nodes (any node answers; an agent asks a
// server).
func (c *Client) Nodes(ctx context.Context) (*apitypes.NodeList, error) {
	var out apitypes.NodeList
	return &out, c.json(ctx, http.MethodGet, "/v1/cluster/nodes", nil, &out)
}

// NodeAction cordons, uncordons or drains a node.
func (c *Client) NodeAction(ctx context.Context, name, action string) (*apitypes.NodeList, error) {
	var out apitypes.NodeList
	return &out, c.json(ctx, http.MethodPost, "/v1/cluster/nodes/"+url.PathEscape(name)+"/"+url.PathEscape(action), nil, &out)
}

// CreateToken makes a join token; ttl is a Go duration or empty (none).
func (c *Client) CreateToken(ctx context.Context, role, ttl string) (*apitypes.Token, error) {
	var out apitypes.Token
	return &out, c.json(ctx, http.MethodPost, "/v1/cluster/tokens", apitypes.TokenRequest{Role: role, TTL: ttl}, &out)
}

// Tokens lists the join tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]apitypes.Token, error) {
	var out []apitypes.Token
	return out, c.json(ctx, http.MethodGet, "/v1/cluster/tokens", nil, &out)
}

// RevokeToken makes the token id unusable.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.json(ctx, http.MethodDelete, "/v1/cluster/tokens/"+url.PathEscape(id), nil, nil)
}

// Snapshot streams etcd's snapshot of the cluster's state into w.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/cluster/snapshot", nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("receiving the snapshot: %w", err)
	}
	return n, nil
}
