#!/usr/bin/env bash
# Puts a Standard internal Azure Load Balancer in front of existing pgrouter VMs, with the
# az CLI: one rule per listener (5432 read-write, 5433 read-only), each with its own HTTP
# probe on pgrouter's stats port 8404 (/health/rw, /health/ro), TCP reset on idle, and the
# NSG rules that let the probes (service tag AzureLoadBalancer) and the clients in.
# The same as terraform/ (README.md beside this script says why each setting is what it is).
#
# Usage:
#   RESOURCE_GROUP=db-rg VNET=db-vnet SUBNET=routers NSG=routers-nsg \
#   CLIENT_PREFIXES="10.1.0.0/16 10.2.0.0/16" \
#   ROUTER_NICS="router-1-nic router-2-nic router-3-nic" \
#   ./create-lb.sh
#
# Optional: LB_NAME (pgrouter), FRONTEND_IP (a static address in SUBNET), IP_CONFIG (the NICs'
# IP configuration, ipconfig1), IDLE_TIMEOUT (minutes, 30), NSG_PRIORITY (200).
# Re-running it updates what exists: every az command here is create-or-update.
set -euo pipefail

: "${RESOURCE_GROUP:?set RESOURCE_GROUP}"
: "${VNET:?set VNET (the virtual network of the routers)}"
: "${SUBNET:?set SUBNET (where the frontend address lives)}"
: "${NSG:?set NSG (the network security group of the routers)}"
: "${CLIENT_PREFIXES:?set CLIENT_PREFIXES (CIDR ranges of the PostgreSQL clients)}"
: "${ROUTER_NICS:?set ROUTER_NICS (the router VMs network interfaces)}"
LB_NAME="${LB_NAME:-pgrouter}"
IP_CONFIG="${IP_CONFIG:-ipconfig1}"
IDLE_TIMEOUT="${IDLE_TIMEOUT:-30}"
NSG_PRIORITY="${NSG_PRIORITY:-200}"
FRONTEND="pgrouter"
POOL="${LB_NAME}-routers"
HTTP_PORT=8404

# listener name, port, probe path: the listeners of config/pgrouter.yaml.
LISTENERS=("rw 5432 /health/rw" "ro 5433 /health/ro")

log() { printf 'create-lb: %s\n' "$*" >&2; }

frontend_ip=()
[ -n "${FRONTEND_IP:-}" ] && frontend_ip=(--private-ip-address "$FRONTEND_IP")

log "load balancer $LB_NAME (Standard, internal, frontend in $VNET/$SUBNET)"
az network lb create \
  --resource-group "$RESOURCE_GROUP" --name "$LB_NAME" --sku Standard \
  --vnet-name "$VNET" --subnet "$SUBNET" "${frontend_ip[@]}" \
  --frontend-ip-name "$FRONTEND" --backend-pool-name "$POOL" \
  --output none

for listener in "${LISTENERS[@]}"; do
  read -r name port path <<<"$listener"
  # Only 200 is healthy: /health/<listener> answers 503 while the listener has no backend.
  log "probe $LB_NAME-$name: HTTP :$HTTP_PORT$path"
  az network lb probe create \
    --resource-group "$RESOURCE_GROUP" --lb-name "$LB_NAME" --name "$LB_NAME-$name" \
    --protocol Http --port "$HTTP_PORT" --path "$path" \
    --interval 5 --probe-threshold 2 \
    --output none

  log "rule $LB_NAME-$name: TCP $port -> $port, idle $IDLE_TIMEOUT min with TCP reset"
  az network lb rule create \
    --resource-group "$RESOURCE_GROUP" --lb-name "$LB_NAME" --name "$LB_NAME-$name" \
    --protocol Tcp --frontend-port "$port" --backend-port "$port" \
    --frontend-ip-name "$FRONTEND" --backend-pool-name "$POOL" \
    --probe-name "$LB_NAME-$name" \
    --idle-timeout-in-minutes "$IDLE_TIMEOUT" --enable-tcp-reset true \
    --disable-outbound-snat true \
    --output none
done

read -r -a nics <<<"$ROUTER_NICS"
for nic in "${nics[@]}"; do
  log "backend pool $POOL += $nic/$IP_CONFIG"
  az network nic ip-config address-pool add \
    --resource-group "$RESOURCE_GROUP" --nic-name "$nic" --ip-config-name "$IP_CONFIG" \
    --lb-name "$LB_NAME" --address-pool "$POOL" \
    --output none
done

# The default AllowAzureLoadBalancerInBound rule has the lowest priority: a deny-all rule
# above it would take every router out of the pool.
log "NSG $NSG: AzureLoadBalancer -> :$HTTP_PORT (probes from 168.63.129.16)"
az network nsg rule create \
  --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG" --name "$LB_NAME-lb-probes" \
  --priority "$NSG_PRIORITY" --direction Inbound --access Allow --protocol Tcp \
  --source-address-prefixes AzureLoadBalancer --source-port-ranges '*' \
  --destination-address-prefixes '*' --destination-port-ranges "$HTTP_PORT" \
  --description "Azure Load Balancer health probes to pgrouter's /health/<listener>" \
  --output none

read -r -a client_prefixes <<<"$CLIENT_PREFIXES"
ports=()
for listener in "${LISTENERS[@]}"; do
  read -r _ port _ <<<"$listener"
  ports+=("$port")
done
log "NSG $NSG: ${client_prefixes[*]} -> :${ports[*]}"
az network nsg rule create \
  --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG" --name "$LB_NAME-clients" \
  --priority "$((NSG_PRIORITY + 10))" --direction Inbound --access Allow --protocol Tcp \
  --source-address-prefixes "${client_prefixes[@]}" --source-port-ranges '*' \
  --destination-address-prefixes '*' --destination-port-ranges "${ports[@]}" \
  --description "PostgreSQL clients to pgrouter's listeners" \
  --output none

address=$(az network lb frontend-ip show \
  --resource-group "$RESOURCE_GROUP" --lb-name "$LB_NAME" --name "$FRONTEND" \
  --query privateIPAddress --output tsv)
log "done: clients connect to $address:5432 (read-write) and $address:5433 (read-only)"
