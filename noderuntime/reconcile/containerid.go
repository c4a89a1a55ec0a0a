package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// ContainerID names a replica's container; the spec hash in it lets the old
// and new replica of a rolling update coexist. The ID is also the replica's
// host name on a bridge network, so it is a DNS label: lowercase letters,
// digits and single '-', at most maxIDLen characters (containerd takes 76).
//
// It is injective, whatever dashes the names hold (spec.CheckName allows
// single dashes inside names). The last dash-separated part tells the form:
//
//	DEP-SVC-INDEX-HASH8      DEP holds no dash: 8 hex characters last
//	DEP-SVC-INDEX-HASH8-K    DEP holds K dashes: 1 or 2 digits last
//	PREFIX-DIGEST-INDEX-HASH8-z  too long otherwise: a readable prefix and
//	                         128 bits of SHA-256 of the two names
//
// so each form splits back one way only. The first is the node's earlier
// scheme, which therefore names most containers exactly as before; any other
// container of that scheme is still adopted by its labels and replaced only
// when its spec changes, as IDs are never parsed back.
func ContainerID(dep, svc string, index int, hash string) string {
	hash8 := hash[:min(8, len(hash))]
	id := fmt.Sprintf("%s-%s-%d-%s", dep, svc, index, hash8)
	if k := strings.Count(dep, "-"); k > 0 {
		id += fmt.Sprintf("-%d", k)
	}
	if len(id) <= maxIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(dep + "/" + svc))
	tail := fmt.Sprintf("-%s-%d-%s-z", hex.EncodeToString(sum[:16]), index, hash8)
	prefix := strings.TrimRight((dep + "-" + svc)[:maxIDLen-len(tail)], "-")
	return prefix + tail
}

// maxIDLen is the longest DNS label (and within containerd's 76).
const maxIDLen = 63
