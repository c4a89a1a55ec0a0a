package clusterstate

import (
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// TestCerts: each server's certificates are kept apart, the most recently
// changed server's last; the same ones again change nothing (no etcd
// revision: every node's work poll would wake); none removes the record.
func TestCerts(t *testing.T) {
	needEtcd(t)
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	a := []apitypes.IngressCert{{Hosts: []string{"shop.example.com"}, Cert: "A", Key: "a"}}
	b := []apitypes.IngressCert{{Cert: "B", Key: "b"}}
	if err := s.PutCerts(ctx, "s1", a); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // distinct change times
	if err := s.PutCerts(ctx, "s2", b); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		got, err := s.Certs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, c := range got {
			out += c.Cert
		}
		return out
	}
	if got := order(); got != "AB" {
		t.Fatalf("certs %q, want s1's then s2's", got)
	}
	rev, keys := lastWrite(t, ctx, s)
	if err := s.PutCerts(ctx, "s1", a); err != nil {
		t.Fatal(err)
	}
	if again, keysAgain := lastWrite(t, ctx, s); again != rev || keysAgain != keys {
		t.Fatalf("the same certificates again wrote: newest change %d → %d, keys %d → %d", rev, again, keys, keysAgain)
	}
	time.Sleep(10 * time.Millisecond)
	a[0].Cert = "A2"
	if err := s.PutCerts(ctx, "s1", a); err != nil {
		t.Fatal(err)
	}
	if got := order(); got != "BA2" {
		t.Fatalf("certs %q after s1 changed, want s2's then s1's", got)
	}
	if err := s.PutCerts(ctx, "s2", nil); err != nil {
		t.Fatal(err)
	}
	if got := order(); got != "A2" {
		t.Fatalf("certs %q after s2 shares none, want s1's only", got)
	}
}
