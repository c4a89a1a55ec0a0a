package cluster

import (
	"slices"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
)

// TestReplicasOf: a node's work lists the other live nodes' replicas with
// their node, in a stable order; its own and a dead node's are left out.
func TestReplicasOf(t *testing.T) {
	sts := map[string][]apitypes.ReplicaStatus{
		"n1": {{ID: "a", State: apitypes.ReplicaReady}},
		"n3": {{ID: "d", State: apitypes.ReplicaReady}, {ID: "c", State: apitypes.ReplicaRunning}},
		"n2": {{ID: "b", State: apitypes.ReplicaReady}},
		"n4": {{ID: "e", State: apitypes.ReplicaReady}},
	}
	got := replicasOf("n1", sts, map[string]bool{"n1": true, "n2": true, "n3": true})
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Node+"/"+r.ID)
	}
	if want := []string{"n2/b", "n3/c", "n3/d"}; !slices.Equal(ids, want) {
		t.Fatalf("replicas %v, want %v", ids, want)
	}
}

// TestRemoteReplicas: a bridge replica keeps its own address, a
// host-network one (loopback) takes its node's advertise address, one of a
// node with no known address or with none of its own gets none; the own
// node's are not remote.
func TestRemoteReplicas(t *testing.T) {
	rs := []apitypes.ReplicaStatus{
		{ID: "br", Deployment: "shop", Service: "web", Replica: 1, State: apitypes.ReplicaReady, Address: "10.244.2.5", Node: "n2"},
		{ID: "host", Deployment: "shop", Service: "db", Replica: 1, State: apitypes.ReplicaReady, Address: "127.0.0.1", Node: "n2"},
		{ID: "lost", Deployment: "shop", Service: "db", Replica: 2, State: apitypes.ReplicaReady, Address: "127.0.0.1", Node: "n9"},
		{ID: "new", Deployment: "shop", Service: "web", Replica: 2, State: apitypes.ReplicaRunning, Node: "n3"},
		{ID: "mine", Deployment: "shop", Service: "web", Replica: 3, State: apitypes.ReplicaReady, Address: "10.244.1.5", Node: "n1"},
	}
	subnets := []apitypes.NodeSubnet{{Node: "n2", Subnet: "10.244.2.0/24", Address: "192.0.2.2"}, {Node: "n3", Subnet: "10.244.3.0/24", Address: "192.0.2.3"}}
	got := remoteReplicas("n1", rs, subnets)
	want := []ingress.Replica{
		{ID: "br", Deployment: "shop", Service: "web", Index: 1, Addr: "10.244.2.5", Ready: true, Node: "n2"},
		{ID: "host", Deployment: "shop", Service: "db", Index: 1, Addr: "192.0.2.2", Ready: true, Node: "n2"},
		{ID: "lost", Deployment: "shop", Service: "db", Index: 2, Ready: true, Node: "n9"},
		{ID: "new", Deployment: "shop", Service: "web", Index: 2, Node: "n3"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("remote replicas\n%+v\nwant\n%+v", got, want)
	}
}

// TestNoteReplicasPublishesChanges: the feed the node's network follows
// moves on when the other nodes' replicas change, not on a work that
// repeats them.
func TestNoteReplicasPublishesChanges(t *testing.T) {
	rt := &Runtime{name: "n1"}
	w := &apitypes.Work{Replicas: []apitypes.ReplicaStatus{{ID: "b", Deployment: "shop", Service: "web", State: apitypes.ReplicaRunning, Address: "10.244.2.5", Node: "n2"}}}
	v := rt.replicaFeed.Version()
	rt.noteReplicas(w)
	if rt.replicaFeed.Version() == v || len(rt.RemoteReplicas()) != 1 || rt.RemoteReplicas()[0].Ready {
		t.Fatalf("first work: feed %d→%d, replicas %+v", v, rt.replicaFeed.Version(), rt.RemoteReplicas())
	}
	v = rt.replicaFeed.Version()
	w.Replicas[0].Restarts++ // not something the network follows
	rt.noteReplicas(w)
	if rt.replicaFeed.Version() != v {
		t.Fatal("a work with the same replicas moved the feed")
	}
	w.Replicas[0].State = apitypes.ReplicaReady
	rt.noteReplicas(w)
	if rt.replicaFeed.Version() == v || !rt.RemoteReplicas()[0].Ready {
		t.Fatalf("readiness not taken: %+v", rt.RemoteReplicas())
	}
}
