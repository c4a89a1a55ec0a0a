package apiclient

import (
	"context"
	"net/url"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// Images lists the node's images.
func (c *Client) Images(ctx context.Context) ([]apitypes.ImageInfo, error) {
	var out []apitypes.ImageInfo
	return out, c.json(ctx, "GET", "/v1/images", nil, &out)
}

// ImagesByDigest lists the node's images whose manifest, index or config
// has digest d; none is an empty list, not an error.
func (c *Client) ImagesByDigest(ctx context.Context, d string) ([]apitypes.ImageInfo, error) {
	var out []apitypes.ImageInfo
	err := c.json(ctx, "GET", "/v1/images/digests/"+url.PathEscape(d), nil, &out)
	if IsNotFound(err) {
		return nil, nil
	}
	return out, err
}

// RemoveImage deletes an image; one in use is refused (409 in_use) unless
// force.
func (c *Client) RemoveImage(ctx context.Context, name string, force bool) (*apitypes.RemovedImage, error) {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	path := "/v1/images/" + strings.Join(segs, "/")
	if force {
		path += "?force=1"
	}
	var out apitypes.RemovedImage
	return &out, c.json(ctx, "DELETE", path, nil, &out)
}

// PruneImages deletes the images no service uses.
func (c *Client) PruneImages(ctx context.Context) (*apitypes.Pruned, error) {
	var out apitypes.Pruned
	return &out, c.json(ctx, "POST", "/v1/images/prune", nil, &out)
}
