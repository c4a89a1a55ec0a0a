package api

import (
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// The server's answers are built from the controller's and the spec's own
// structs field by field, so renaming one of theirs fails to compile here
// instead of changing the API.

func wireReplica(r reconcile.ReplicaStatus) apitypes.ReplicaStatus { return r.Wire() }

// wireReplicas keeps a nil list nil: JSON null, as the API has answered for
// a service with no replica.
func wireReplicas(rs []reconcile.ReplicaStatus) []apitypes.ReplicaStatus {
	if rs == nil {
		return nil
	}
	out := make([]apitypes.ReplicaStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, wireReplica(r))
	}
	return out
}

func wireDeployment(d reconcile.DeploymentStatus) apitypes.DeploymentStatus {
	out := apitypes.DeploymentStatus{Name: d.Name, Generation: d.Generation, UpdatedAt: d.UpdatedAt, Ready: d.Ready, Rollout: wireRollout(d.Rollout)}
	for _, s := range d.Services {
		out.Services = append(out.Services, apitypes.ServiceStatus{
			Name: s.Name, Desired: s.Desired, Ready: s.Ready, State: s.State, Message: s.Message,
			Replicas: wireReplicas(s.Replicas), Runs: s.Runs,
		})
	}
	return out
}

func wireImages(imgs []reconcile.ImportedImage) []apitypes.ImportedImage {
	var out []apitypes.ImportedImage
	for _, i := range imgs {
		out = append(out, apitypes.ImportedImage{Name: i.Name, Digest: i.Digest})
	}
	return out
}

func wireSpecErrors(es spec.Errors) []apitypes.SpecError {
	out := make([]apitypes.SpecError, 0, len(es))
	for _, e := range es {
		out = append(out, apitypes.SpecError{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Msg: e.Msg})
	}
	return out
}
