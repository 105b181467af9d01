output "frontend_ip" {
  description = "The address clients connect to: :5432 read-write, :5433 read-only."
  value       = azurerm_lb.pgrouter.frontend_ip_configuration[0].private_ip_address
}

output "load_balancer_id" {
  value = azurerm_lb.pgrouter.id
}
