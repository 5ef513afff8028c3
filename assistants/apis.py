"""OpenGPTs' assistants endpoints (seed 002)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors
from threads.opengpts import openapi

from . import services
from .models import Assistant
from .serializers import AssistantInSerializer, assistant_out


class AssistantListApi(APIView):
    @extend_schema(operation_id="assistants_list", summary="The caller's assistants", responses={200: openapi.array(openapi.ASSISTANT), **errors(401)})
    def get(self, request):
        return Response([assistant_out(a) for a in Assistant.objects.visible_to(request.user)[:500]])

    @extend_schema(summary="Create an assistant", request=AssistantInSerializer, responses={200: openapi.ASSISTANT, **errors(400, 401)})
    def post(self, request):
        serializer = AssistantInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(assistant_out(services.create_assistant(request.user, serializer.validated_data)))


class PublicAssistantListApi(APIView):
    @extend_schema(summary="Public assistants of the caller's tenant", responses={200: openapi.array(openapi.ASSISTANT), **errors(401)})
    def get(self, request):
        public = Assistant.objects.filter(tenant=request.user.tenant, public=True)[:500]
        return Response([assistant_out(a) for a in public])


class AssistantDetailApi(APIView):
    @extend_schema(summary="An assistant (own or public)", responses={200: openapi.ASSISTANT, **errors(401, 404)})
    def get(self, request, assistant_id):
        assistant = Assistant.objects.readable_by(request.user).filter(pk=assistant_id).first()
        if assistant is None:
            return Response({"detail": "assistant not found", "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
        return Response(assistant_out(assistant))

    @extend_schema(summary="Create or replace an assistant with this id", request=AssistantInSerializer, responses={200: openapi.ASSISTANT, **errors(400, 401, 404)})
    def put(self, request, assistant_id):
        serializer = AssistantInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assistant, _ = services.put_assistant(request.user, assistant_id, serializer.validated_data)
        return Response(assistant_out(assistant))

    @extend_schema(summary="Delete an assistant", responses={200: openapi.STATUS_OK, **errors(401, 404)})
    def delete(self, request, assistant_id):
        services.delete_assistant(request.user, assistant_id)
        return Response({"status": "ok"})
