ARG REGISTRY
FROM 127.0.0.1:5000/acme/base:dev AS final
