#!/bin/sh
echo "app $*"
