package apitypes

import "time"

// imageSamples are the image wire types' golden samples (see filled).
func imageSamples() map[string]any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	removed := RemovedImage{Name: "docker.io/library/old:1", Digest: "sha256:89ab", Freed: 2048}
	return map[string]any{
		"ImageInfo": ImageInfo{Name: "docker.io/library/app:1", Digest: "sha256:4567", ConfigDigest: "sha256:cdef",
			Size: 1234567, CreatedAt: at, UsedBy: []string{"shop/web"}},
		"RemovedImage": removed,
		"Pruned":       Pruned{Removed: []RemovedImage{removed}, Freed: 2048},
	}
}
