package main

import (
	"encoding/json"
	"io"
)

// printJSONList writes list to w as indented JSON, with an empty list as []
// rather than null so that scripts can iterate it either way.
func printJSONList[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

// printJSON writes one value to w as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
