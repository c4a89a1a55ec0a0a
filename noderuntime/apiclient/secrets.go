package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// PutSecret creates name or gives it a new value; deployments using it
// roll when the value changed (SecretInfo.Rolled).
func (c *Client) PutSecret(ctx context.Context, name string, value []byte) (*apitypes.SecretInfo, error) {
	resp, err := c.do(ctx, "PUT", "/v1/secrets/"+url.PathEscape(name), bytes.NewReader(value), "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out apitypes.SecretInfo
	return &out, json.NewDecoder(resp.Body).Decode(&out)
}

// Secrets lists the node's secrets, without values.
func (c *Client) Secrets(ctx context.Context) ([]apitypes.SecretInfo, error) {
	var out []apitypes.SecretInfo
	return out, c.json(ctx, "GET", "/v1/secrets", nil, &out)
}

// DeleteSecret removes a secret; one in use is refused (409 in_use).
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.json(ctx, "DELETE", "/v1/secrets/"+url.PathEscape(name), nil, nil)
}
