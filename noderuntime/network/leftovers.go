package network

import (
	"crypto/sha512"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// masqChain is the nat chain the bridge plugin makes for a container's
// outbound NAT: "CNI-" and the start of sha512(network name + container id),
// 28 characters in all, as the plugin names it.
func masqChain(network, id string) string {
	return fmt.Sprintf("CNI-%x", sha512.Sum512([]byte(network+id)))[:28]
}

// dropMasq removes the outbound NAT rules and chain the bridge plugin made
// for container id. The plugin itself only removes them when it can still
// read the address from the container's namespace; once the namespace is
// gone (a node restart, a vanished replica) its DEL releases the lease but
// would leave the rules behind, one set per replica recreated.
func dropMasq(network, id string) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nil // no iptables: the plugin made no such rules either
	}
	chain := masqChain(network, id)
	comment := fmt.Sprintf("name: %q id: %q", network, id)
	out, err := exec.Command(ipt, "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		return fmt.Errorf("list nat rules: %w", err)
	}
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if !strings.HasSuffix(line, "-j "+chain) || len(f) < 4 || f[2] != "-s" {
			continue
		}
		if out, err := exec.Command(ipt, "-w", "-t", "nat", "-D", "POSTROUTING", "-s", f[3], "-j", chain, "-m", "comment", "--comment", comment).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("delete nat rule for %s: %v: %s", f[3], err, strings.TrimSpace(string(out))))
		}
	}
	if err := exec.Command(ipt, "-w", "-t", "nat", "-n", "-L", chain).Run(); err == nil {
		for _, op := range []string{"-F", "-X"} {
			if out, err := exec.Command(ipt, "-w", "-t", "nat", op, chain).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Sprintf("iptables %s %s: %v: %s", op, chain, err, strings.TrimSpace(string(out))))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("outbound NAT of %s: %s", id, strings.Join(errs, "; "))
	}
	return nil
}

// leaseHolders lists the container ids holding host-local leases in the
// bridge's IPAM folder: a lease whose attachment record was never written
// (serve ended between the two) is still found and released.
func (b *Bridge) leaseHolders() []string {
	var ids []string
	ents, _ := os.ReadDir(filepath.Join(b.dir, "ipam", networkName))
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), "last_reserved_ip") || e.Name() == "lock" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(b.dir, "ipam", networkName, e.Name()))
		if err != nil {
			continue
		}
		id, _, _ := strings.Cut(string(raw), "\n")
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
