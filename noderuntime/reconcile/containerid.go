package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// ContainerID names a replica's container; the spec hash in it lets the old
// and new replica of a rolling update coexist.
//
// It is injective: deployment and service names cannot hold '_' or '.'
// (spec.CheckName), so DEP_SVC_INDEX_HASH splits back one way only, whatever
// dashes the names hold. containerd takes at most maxIDLen characters, so
// when two long names do not fit, the ID is a readable prefix, a '.', and a
// digest of the pair: the '.' keeps those apart from the plain form, the
// digest (128 bits of SHA-256) keeps them apart from each other.
//
// Containers named by the node's earlier DEP-SVC-INDEX-HASH scheme are still
// adopted by their labels and replaced only when their spec changes; IDs are
// never parsed back.
func ContainerID(dep, svc string, index int, hash string) string {
	tail := fmt.Sprintf("_%d_%s", index, hash[:min(8, len(hash))])
	if id := dep + "_" + svc + tail; len(id) <= maxIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(dep + "/" + svc))
	digest := hex.EncodeToString(sum[:16])
	prefix := (dep + "_" + svc)[:maxIDLen-len(tail)-1-len(digest)]
	// containerd wants a letter or digit on each side of a separator.
	prefix = strings.TrimRight(prefix, "_-")
	return prefix + "." + digest + tail
}

// maxIDLen is containerd's limit on identifiers.
const maxIDLen = 76
