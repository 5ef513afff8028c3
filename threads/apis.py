"""DRF views over threads: listing, detail, confirmations, cancel (PromptQL dialect + Querent extras)."""

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors

from . import promptql_openapi as q
from . import selectors, services
from .models import Confirmation
from .serializers import ConfirmationDecisionSerializer, run_dict, thread_detail, thread_summary


class ThreadListApi(APIView):
    @extend_schema(summary="List the caller's threads", responses={200: OpenApiResponse(q.THREADS, description="The caller's threads")})
    def get(self, request):
        threads = selectors.threads_for(request.user)[:500]
        return Response([thread_summary(t) for t in threads])


class ThreadDetailApi(APIView):
    @extend_schema(summary="A thread with its history, artifacts, confirmations and runs", responses={200: OpenApiResponse(q.THREAD_DETAIL, description="The thread"), **errors(401, 404)})
    def get(self, request, thread_id):
        return Response(thread_detail(selectors.get_thread(request.user, thread_id)))


class UserConfirmationApi(APIView):
    @extend_schema(summary="Approve or deny a pending mutation", request=ConfirmationDecisionSerializer, responses={200: OpenApiResponse(q.DECIDED, description="Decided"), **errors(400, 401, 404, 409)})
    def post(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        serializer = ConfirmationDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.do_decide_confirmation(
                thread, serializer.validated_data["confirmation_id"],
                approve=serializer.validated_data["confirm"], decided_by=str(request.user),
            )
        except Confirmation.DoesNotExist:
            raise NotFound("confirmation not found on this thread") from None
        return Response({})  # an already decided confirmation: services.Conflict, a 409


class CancelRunApi(APIView):
    @extend_schema(summary="Cancel the thread's active run", request=None, responses={200: OpenApiResponse(q.CANCELLED, description="Where each run ended"), **errors(401, 404)})
    def post(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        runs = services.do_cancel_runs(thread)
        if not runs:
            raise Http404("no active run on this thread")
        # The reply shows where each run ended, not the state it was in when asked to stop: a run
        # waiting for approval or computing stops within moments; one still stopping after the
        # wait says so with cancel_requested.
        ended = [services.wait_for_run(run.id, timeout=settings.RUN_CANCEL_REPLY_WAIT) for run in runs]
        return Response({"cancelled": [{**run_dict(run), "cancel_requested": True} for run in ended]})
