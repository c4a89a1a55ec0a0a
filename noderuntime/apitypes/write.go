package apitypes

import (
	"encoding/json"
	"net/http"
)

// WriteJSON writes v as a response body of the node API: indented JSON,
// so that a body read with curl is readable as it comes.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
