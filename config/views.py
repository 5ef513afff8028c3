from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .schema import errors


@extend_schema(summary="The principal this request authenticated as", responses={200: OpenApiResponse(
    {"type": "object", "required": ["tenant", "user_id", "source"],
     "properties": {"tenant": {"type": "string"}, "user_id": {"type": "string"}, "source": {"type": "string"}}},
    description="The principal"), **errors(401)})
@api_view(["GET"])
def whoami(request):
    """The principal the request authenticated as: handy for checking credentials."""
    principal = request.user
    return Response({"tenant": principal.tenant, "user_id": principal.user_id, "source": principal.source})
