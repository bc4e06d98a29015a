/* placeholder: the HTTP client is being written */
