"""The web portal: the partner extranet, the customer space and the back office, in a browser."""
