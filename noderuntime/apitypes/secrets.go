package apitypes

import "time"

// SecretInfo is one entry of GET /v1/secrets and the answer of PUT
// /v1/secrets/{name}: what may be told of a secret, never its value.
type SecretInfo struct {
	Name string `json:"name"`
	Size int    `json:"size"`
	// Version grows by one with every new value; services using the
	// secret roll when it does.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// UsedBy are the deployment/service pairs using it.
	UsedBy []string `json:"used_by"`
	// Rolled are the deployments a new value rolled (PUT only).
	Rolled []string `json:"rolled,omitempty"`
}

// CauseSecret: a secret the deployment uses got a new value.
const CauseSecret GenerationCause = "secret"
