package apitypes

import "time"

// secretSamples are the secret wire types' golden samples (see filled).
func secretSamples() map[string]any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	return map[string]any{
		"SecretInfo": SecretInfo{Name: "db-password", Size: 12, Version: 3, CreatedAt: at, UpdatedAt: at.Add(time.Hour),
			UsedBy: []string{"shop/web"}, Rolled: []string{"shop"}},
	}
}
