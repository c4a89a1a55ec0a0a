package netns

import (
	"net/netip"
	"testing"
)

func TestFreeSubnetSkipsUsed(t *testing.T) {
	within := netip.MustParsePrefix("10.213.0.0/16")
	used := []netip.Prefix{
		netip.MustParsePrefix("10.213.0.0/24"),
		netip.MustParsePrefix("10.213.1.7/32"), // a host route
		netip.MustParsePrefix("192.0.2.0/24"),
	}
	got, err := freeSubnet(within, 24, used)
	if err != nil || got != netip.MustParsePrefix("10.213.2.0/24") {
		t.Fatalf("freeSubnet: %v, %v; want 10.213.2.0/24", got, err)
	}
	// A route covering the whole range leaves nothing.
	if got, err := freeSubnet(within, 24, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); err == nil {
		t.Fatalf("freeSubnet under a covering route: %v", got)
	}
	if _, err := freeSubnet(within, 8, nil); err == nil {
		t.Fatal("a /8 inside a /16 was accepted")
	}
}

func TestOwnerFromNames(t *testing.T) {
	for _, c := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"zlt-1234-abcdef-s1", 1234, true},
		{"zlt-1234-abcdef-name-with-dashes", 1234, true},
		{"zlt-x-abcdef-s1", 0, false},
		{"other-1234-abcdef-s1", 0, false}, // not ours: never swept
		{"zlt", 0, false},
	} {
		pid, ok := ownerOfNetNS(c.name)
		if pid != c.pid || ok != c.ok {
			t.Errorf("ownerOfNetNS(%q) = %d, %v; want %d, %v", c.name, pid, ok, c.pid, c.ok)
		}
	}
	for _, c := range []struct {
		alias string
		pid   int
		ok    bool
	}{
		{aliasTag + "42 name=s1", 42, true},
		{aliasTag + "42", 42, true},
		{"zlayer-netns pid=", 0, false},
		{"someone else's bridge", 0, false},
		{"", 0, false},
	} {
		pid, ok := ownerOfAlias(c.alias)
		if pid != c.pid || ok != c.ok {
			t.Errorf("ownerOfAlias(%q) = %d, %v; want %d, %v", c.alias, pid, ok, c.pid, c.ok)
		}
	}
	if a := alias("s1"); !isOurs(a) {
		t.Errorf("alias %q not recognised as ours", a)
	}
}

func isOurs(a string) bool { _, ok := ownerOfAlias(a); return ok }
