// For the tests: the part of the backend's OpenAPI document (GET /openapi.json, as FastAPI
// writes it) that states its limit on a question.

export function openapiStating(maxLength: number): unknown {
  return {
    openapi: '3.1.0',
    paths: {
      '/api/chat': {
        post: { requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/ChatRequest' } } }, required: true } },
      },
    },
    components: {
      schemas: {
        ChatRequest: { properties: { message: { type: 'string', minLength: 1, maxLength }, session_id: {} }, required: ['message'] },
      },
    },
  };
}
