package apitypes

import "time"

// ImageInfo is one image of the node: GET /v1/images lists them, GET
// /v1/images/digests/{digest} those with a digest.
type ImageInfo struct {
	Name   string `json:"name"`
	Digest string `json:"digest"` // the target: manifest or index
	// ConfigDigest is the node platform's image config, which `docker image
	// inspect` shows as the Id of an image in docker's classic store.
	ConfigDigest string    `json:"config_digest,omitempty"`
	Size         int64     `json:"size"` // content bytes for the node's platform
	CreatedAt    time.Time `json:"created_at,omitzero"`
	// UsedBy are the DEPLOYMENT/SERVICE pairs whose spec names the image or
	// whose replicas run it; never null.
	UsedBy []string `json:"used_by"`
}

// RemovedImage is one image DELETE /v1/images/{name} or the prune deleted.
type RemovedImage struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	// Freed is the content the node's garbage collection deleted with it
	// (blobs another image shares stay).
	Freed int64 `json:"freed"`
}

// Pruned is the answer of POST /v1/images/prune: the unused images deleted
// and the content bytes freed in all.
type Pruned struct {
	Removed []RemovedImage `json:"removed"`
	Freed   int64          `json:"freed"`
}
