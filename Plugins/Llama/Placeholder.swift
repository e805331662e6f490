// Llama plugin
